//! The query router: splits a range at the table's confirmed watermark W,
//! reads `[from, W)` from cold over the link and `[W, to)` from hot at the
//! same time, and merges them in time order (cold rows all precede hot).
//! Never by wall-clock age, so a row is returned exactly once even while an
//! archive confirms and purges windows (see `watermarks.rs`).

use crate::hot::HotStore;
use crate::link::LinkClient;
use crate::watermarks::Watermarks;
use hotcold_core::schema::{TableSchema, Window};
use hotcold_core::RowBatch;
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Default, Serialize)]
pub struct QueryAnswer {
    #[serde(skip)]
    pub rows: Vec<RowBatch>,
    pub watermark: Option<i64>,
    pub hot_rows: u64,
    pub cold_rows: u64,
    /// Ranges the answer lacks because the gateway could not be asked.
    pub missing: Vec<Window>,
    pub missing_reason: Option<String>,
    /// True when `limit` cut the answer short.
    pub truncated: bool,
}

/// The part of `w` below `wm` and the part from `wm` on.
pub fn split(w: Window, wm: Option<i64>) -> (Option<Window>, Option<Window>) {
    let Some(wm) = wm else { return (None, Some(w)) };
    let cold = Window::new(w.start, w.end.min(wm));
    let hot = Window::new(w.start.max(wm), w.end);
    (
        (!cold.is_empty()).then_some(cold),
        (!hot.is_empty()).then_some(hot),
    )
}

pub async fn query(
    hot: Arc<dyn HotStore>,
    link: &LinkClient,
    watermarks: &Watermarks,
    schema: &TableSchema,
    window: Window,
    limit: u64,
) -> Result<QueryAnswer, crate::hot::HotError> {
    // Held until the hot part is read: purge waits for us.
    let marks = watermarks.read().await;
    let wm = marks.get(&schema.name).copied();
    let (cold_w, hot_w) = split(window, wm);
    let cold_part = async {
        match cold_w {
            None => Ok((Vec::new(), false)),
            Some(w) => link
                .query(schema, w, limit)
                .await
                .map(|(rows, end)| (rows, end.truncated)),
        }
    };
    let hot_part = async {
        let Some(w) = hot_w else {
            return Ok::<_, crate::hot::HotError>(Vec::new());
        };
        let (h, s) = (hot.clone(), schema.clone());
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            h.scan(&s, w, limit, 8192, &mut |b| {
                out.push(b);
                Ok(())
            })?;
            Ok(out)
        })
        .await
        .map_err(|e| crate::hot::HotError::Other(e.to_string()))?
    };
    let (cold_res, hot_res) = tokio::join!(cold_part, hot_part);
    drop(marks);
    let hot_rows = hot_res?;
    let mut ans = QueryAnswer {
        watermark: wm,
        ..Default::default()
    };
    match cold_res {
        Ok((rows, truncated)) => {
            ans.cold_rows = rows.iter().map(|b| b.len() as u64).sum();
            ans.truncated |= truncated;
            ans.rows = rows;
        }
        Err(e) => {
            ans.missing = cold_w.into_iter().collect();
            ans.missing_reason = Some(e.to_string());
        }
    }
    ans.hot_rows = hot_rows.iter().map(|b| b.len() as u64).sum();
    ans.rows.extend(hot_rows);
    // Cold rows come first in time: cutting at `limit` keeps the earliest.
    let mut left = limit;
    for b in &mut ans.rows {
        if (b.len() as u64) > left {
            truncate(b, left as usize);
            ans.truncated = true;
        }
        left -= b.len() as u64;
    }
    ans.rows.retain(|b| !b.is_empty());
    Ok(ans)
}

fn truncate(b: &mut RowBatch, n: usize) {
    use hotcold_core::Column;
    for c in &mut b.columns {
        match c {
            Column::I64(v) => v.truncate(n),
            Column::U64(v) => v.truncate(n),
            Column::F64(v) => v.truncate(n),
            Column::Bool(v) => v.truncate(n),
            Column::Str(v) => v.truncate(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn split_covers_the_range_once(a in -1000i64..1000, len in 1i64..1000, wm in proptest::option::of(-2000i64..2000)) {
            let w = Window::new(a, a + len);
            let (c, h) = split(w, wm);
            let covered: i64 = c.map_or(0, |x| x.end - x.start) + h.map_or(0, |x| x.end - x.start);
            prop_assert_eq!(covered, len);
            if let (Some(c), Some(h)) = (c, h) { prop_assert_eq!(c.end, h.start); }
            if let (Some(c), Some(wm)) = (c, wm) { prop_assert!(c.end <= wm); }
            if let (Some(h), Some(wm)) = (h, wm) { prop_assert!(h.start >= wm); }
        }
    }
}
