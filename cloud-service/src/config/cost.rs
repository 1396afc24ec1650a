//! `cost:`: the prices the cost report (`GET /v1/admin/cost`) multiplies
//! the measured bytes by. All optional: without them the report gives
//! bytes only.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CostConfig {
    /// The cloud disk, per GB (10^9 bytes) and month.
    pub cloud_disk_per_gb_month: Option<f64>,
    /// Bytes leaving the cloud (the archive's traffic to the NAS), per GB.
    pub egress_per_gb: Option<f64>,
    /// The NAS as a fixed monthly cost (its disks, power, amortised).
    pub nas_per_month: Option<f64>,
    /// What the figures are in; only shown.
    pub currency: Option<String>,
}

impl CostConfig {
    /// A price must be a finite number, zero or more.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("cost.cloud-disk-per-gb-month", self.cloud_disk_per_gb_month),
            ("cost.egress-per-gb", self.egress_per_gb),
            ("cost.nas-per-month", self.nas_per_month),
        ] {
            if let Some(p) = v {
                if !p.is_finite() || p < 0.0 {
                    return Err(format!(
                        "{key}: {p} is not a price (give a number, 0 or more)"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negative_or_missing_number_is_refused_naming_the_key() {
        let ok: CostConfig =
            serde_yaml::from_str("cloud-disk-per-gb-month: 0.1\negress-per-gb: 0\n").unwrap();
        assert!(ok.validate().is_ok());
        let bad: CostConfig = serde_yaml::from_str("egress-per-gb: -0.09\n").unwrap();
        let e = bad.validate().unwrap_err();
        assert!(
            e.contains("cost.egress-per-gb") && e.contains("-0.09"),
            "{e}"
        );
        let e = serde_yaml::from_str::<CostConfig>("disk-per-gb: 1\n").unwrap_err();
        assert!(e.to_string().contains("disk-per-gb"), "{e}");
    }
}
