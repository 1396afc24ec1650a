//! Config text and its layers: a YAML file, an environment overlay and
//! `HOTCOLD__A__B` variables, loaded into the cloud's typed config.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (base, rest) = text.split_once("\n---\n").unwrap_or((text, ""));
    let Ok(mut value) = serde_yaml::from_str::<serde_yaml::Value>(base) else { return };
    if let Ok(overlay) = serde_yaml::from_str::<serde_yaml::Value>(rest) {
        hotcold_core::layers::merge(&mut value, overlay);
    }
    let vars = rest
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()));
    let _ = hotcold_core::layers::apply_env(&mut value, "HOTCOLD", vars);
    if let Ok(cfg) = serde_yaml::from_value::<cloud_service::config::CloudConfig>(value) {
        let _ = cfg.validate();
    }
});
