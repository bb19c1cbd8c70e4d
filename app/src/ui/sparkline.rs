use leptos::prelude::*;

const WIDTH: f64 = 80.0;
const HEIGHT: f64 = 18.0;

/// The polyline of `values` (oldest first) scaled into the box, and the x
/// of each probe that got no answer (drawn as a dot on the baseline).
fn geometry(values: &[Option<u64>]) -> (String, Vec<f64>) {
    let max = values.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let step = if values.len() > 1 {
        WIDTH / (values.len() - 1) as f64
    } else {
        0.0
    };
    let mut points = Vec::new();
    let mut misses = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let x = i as f64 * step;
        match v {
            // 1px margin so the stroke is not clipped at the top or bottom.
            Some(v) => points.push(format!(
                "{x:.1},{:.1}",
                HEIGHT - 1.0 - (*v as f64 / max) * (HEIGHT - 2.0)
            )),
            None => misses.push(x),
        }
    }
    (points.join(" "), misses)
}

/// What the sparkline shows, for those who cannot see it.
fn describe(values: &[Option<u64>]) -> String {
    let answered: Vec<u64> = values.iter().flatten().copied().collect();
    let missed = values.len() - answered.len();
    let range = match (answered.iter().min(), answered.iter().max()) {
        (Some(lo), Some(hi)) => format!("{lo}–{hi} ms"),
        _ => "no answer".to_owned(),
    };
    let missed = if missed > 0 && !answered.is_empty() {
        format!(", {missed} without answer")
    } else {
        String::new()
    };
    format!(
        "Latency of the last {} probes: {range}{missed}",
        values.len()
    )
}

/// A small latency chart drawn as inline SVG.
#[component]
pub fn Sparkline(values: Vec<Option<u64>>) -> impl IntoView {
    let (points, misses) = geometry(&values);
    view! {
        <svg
            class="sparkline"
            data-testid="sparkline"
            role="img"
            aria-label=describe(&values)
            width=WIDTH
            height=HEIGHT
            viewBox=format!("-2 0 {} {HEIGHT}", WIDTH + 4.0)
        >
            <polyline points=points />
            {misses.into_iter().map(|x| view! { <circle class="miss" cx=x cy=HEIGHT - 2.0 r="1.5" /> }).collect_view()}
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_to_the_slowest_probe_and_marks_misses() {
        let (points, misses) = geometry(&[Some(0), Some(10), None, Some(5)]);
        let pts: Vec<&str> = points.split(' ').collect();
        assert_eq!(pts.len(), 3);
        assert_eq!(pts[0], format!("0.0,{:.1}", HEIGHT - 1.0));
        assert!(
            pts[1].ends_with(",1.0"),
            "the slowest touches the top: {}",
            pts[1]
        );
        assert_eq!(misses.len(), 1);
        assert!((misses[0] - 2.0 * WIDTH / 3.0).abs() < 1e-9);
    }

    #[test]
    fn empty_and_single_histories_do_not_divide_by_zero() {
        assert_eq!(geometry(&[]), (String::new(), vec![]));
        assert_eq!(geometry(&[Some(7)]).0, format!("0.0,{:.1}", 1.0));
        assert_eq!(geometry(&[None]).1, vec![0.0]);
    }

    #[test]
    fn says_what_it_shows() {
        assert_eq!(
            describe(&[Some(3), None, Some(9)]),
            "Latency of the last 3 probes: 3–9 ms, 1 without answer"
        );
        assert_eq!(describe(&[None]), "Latency of the last 1 probes: no answer");
    }
}
