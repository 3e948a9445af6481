use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// A histogram with the bounds reports and the deploy comparison use (µs, 1 µs to 1 h, 3 figures).
fn empty() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds")
}

fn hist(values_ms: &[u64]) -> Histogram<u64> {
    let mut h = empty();
    values_ms.iter().for_each(|&v| h.saturating_record(v * 1000));
    h
}

#[test]
fn erfc_matches_known_values() {
    for (x, want) in
        [(0.0, 1.0), (0.5, 0.479_500_122), (1.0, 0.157_299_207), (2.0, 0.004_677_735), (-1.0, 1.842_700_793)]
    {
        assert!((erfc(x) - want).abs() < 1e-6, "erfc({x}) = {}", erfc(x));
    }
}

#[test]
fn u_counts_pairs_with_ties_as_halves() {
    // x = {1, 2, 3}, y = {2, 4}: pairs x>y: (3,2) = 1; ties: (2,2) = ½ → U = 1.5.
    let mw = mann_whitney(&hist(&[1, 2, 3]), &hist(&[2, 4])).unwrap();
    assert_eq!(mw.u, 1.5);
    assert_eq!(mw.effect, 0.25);
}

#[test]
fn a_clear_shift_is_significant_and_identical_samples_are_not() {
    let before: Vec<u64> = (0..40).map(|i| 10 + i % 5).collect();
    let after: Vec<u64> = (0..40).map(|i| 60 + i % 5).collect();
    let mw = mann_whitney(&hist(&after), &hist(&before)).unwrap();
    assert!(mw.p_value < 1e-9 && mw.effect == 1.0, "{mw:?}");
    let same = mann_whitney(&hist(&before), &hist(&before)).unwrap();
    assert!(same.p_value > 0.9 && same.effect == 0.5, "{same:?}");
    // Everything tied in one bucket: no variance, no evidence.
    assert_eq!(mann_whitney(&hist(&[5; 10]), &hist(&[5; 10])).unwrap().p_value, 1.0);
    assert_eq!(mann_whitney(&empty(), &hist(&[5])), None);
}

#[test]
fn pocock_spending_spends_alpha_by_the_end_and_early_looks_get_a_share() {
    assert_eq!(pocock_spent(0.01, 0.0), 0.0);
    assert!((pocock_spent(0.01, 1.0) - 0.01).abs() < 1e-12);
    assert!((pocock_spent(0.01, 0.1) - 0.001_584).abs() < 1e-5, "{}", pocock_spent(0.01, 0.1));
    let mut looks = Looks::new(0.01);
    let levels: Vec<f64> = (1..=120).map(|k| looks.look(k as f64 / 120.0)).collect();
    assert!((levels.iter().sum::<f64>() - 0.01).abs() < 1e-12, "the looks together spend exactly α");
    assert_eq!(looks.look(1.0), 0.0, "nothing is left after the window");
    assert!(levels[0] > levels[119], "early looks get more than late ones");
}

#[test]
fn availability_needs_a_significant_drop_of_a_point() {
    let all = Tally { passed: 100, runs: 100 };
    let v = availability(all, Tally { passed: 70, runs: 100 }, ALPHA).unwrap();
    assert!(v.regression && v.p_value < 1e-6, "{v:?}");
    assert!(!availability(all, Tally { passed: 99, runs: 100 }, ALPHA).unwrap().regression);
    assert!(!availability(Tally { passed: 70, runs: 100 }, all, ALPHA).unwrap().regression, "a rise is fine");
    assert_eq!(availability(all, Tally::default(), ALPHA), None);
}

/// A journey step as the simulation sees it: a typical latency and a failure rate.
struct SimStep {
    median_ms: f64,
    failure_rate: f64,
}

/// One run of a step: latency log-normal around the median (σ = 0.15, with a 2 % tail of slow outliers up
/// to 3×), or a failure.
fn sample(rng: &mut StdRng, s: &SimStep, extra_ms: f64) -> (u64, bool) {
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let mut ms = s.median_ms * (0.15 * normal).exp();
    if rng.random::<f64>() < 0.02 {
        ms *= 1.0 + 2.0 * rng.random::<f64>();
    }
    (((ms + extra_ms) * 1000.0) as u64, rng.random::<f64>() >= s.failure_rate)
}

/// What one simulated deploy flagged: per step, the run (counted from the marker) whose look first found a
/// regression.
fn simulate_deploy(rng: &mut StdRng, steps: &[SimStep], slower: Option<(usize, f64)>) -> Vec<Option<usize>> {
    // 30 minutes before the marker and a 10-minute decision window at one run every 5 s.
    const BEFORE: usize = 360;
    const AFTER: usize = 120;
    let mut flagged = vec![None; steps.len()];
    for (i, s) in steps.iter().enumerate() {
        let (mut before, mut before_tally) = (empty(), Tally::default());
        for _ in 0..BEFORE {
            let (us, ok) = sample(rng, s, 0.0);
            before.saturating_record(us);
            before_tally.runs += 1;
            before_tally.passed += u64::from(ok);
        }
        let extra = slower.filter(|(step, _)| *step == i).map_or(0.0, |(_, ms)| ms);
        let (mut after, mut after_tally) = (empty(), Tally::default());
        let (mut latency_looks, mut availability_looks) = (Looks::new(ALPHA), Looks::new(ALPHA));
        for k in 0..AFTER {
            let (us, ok) = sample(rng, s, extra);
            after.saturating_record(us);
            after_tally.runs += 1;
            after_tally.passed += u64::from(ok);
            let t = (k + 1) as f64 / AFTER as f64;
            let slow = latency(&before, &after, latency_looks.look(t)).is_some_and(|v| v.regression());
            let down =
                availability(before_tally, after_tally, availability_looks.look(t)).is_some_and(|v| v.regression);
            if (slow || down) && flagged[i].is_none() {
                flagged[i] = Some(k + 1);
            }
        }
    }
    flagged
}

/// The shop's checkout as the simulation runs it: four steps, one a little flaky.
fn checkout() -> Vec<SimStep> {
    vec![
        SimStep { median_ms: 40.0, failure_rate: 0.0 },
        SimStep { median_ms: 120.0, failure_rate: 0.002 },
        SimStep { median_ms: 15.0, failure_rate: 0.0 },
        SimStep { median_ms: 200.0, failure_rate: 0.01 },
    ]
}

#[test]
fn a_hundred_deploys_without_change_raise_at_most_two_false_regressions() {
    let mut rng = StdRng::seed_from_u64(0x6a6f_7572_6e65_7964);
    let steps = checkout();
    let false_alarms = (0..100).filter(|_| simulate_deploy(&mut rng, &steps, None).iter().any(Option::is_some)).count();
    eprintln!("{false_alarms} of 100 unchanged deploys were flagged");
    assert!(false_alarms <= 2, "{false_alarms} of 100 unchanged deploys were flagged");
}

#[test]
fn thirty_ms_more_on_one_step_is_flagged_within_two_minutes_and_only_there() {
    let mut rng = StdRng::seed_from_u64(42);
    let steps = checkout();
    for _ in 0..10 {
        // The 40 ms step (a price lookup) becomes 70 ms.
        let flagged = simulate_deploy(&mut rng, &steps, Some((0, 30.0)));
        // Two minutes at one run every 5 s: 24 runs after the marker.
        eprintln!("the slower step was flagged at run {:?} after the marker", flagged[0]);
        assert!(flagged[0].is_some_and(|run| run <= 24), "{flagged:?}");
        assert_eq!(flagged.iter().filter(|f| f.is_some()).count(), 1, "only the slower step: {flagged:?}");
    }
}

#[test]
fn fisher_matches_known_tables_and_is_never_below_the_z_test() {
    // 1 failure in 10 after, 3 in 360 before: the exact two-sided p is about 0.21 — no evidence.
    let p = fisher_p(Tally { passed: 357, runs: 360 }, Tally { passed: 9, runs: 10 });
    assert!((0.15..0.25).contains(&p), "{p}");
    // Lady tasting tea: 3 of 4 against 1 of 4 → one-sided 0.2429, two-sided (doubled) 0.4857.
    let p = fisher_p(Tally { passed: 3, runs: 4 }, Tally { passed: 1, runs: 4 });
    assert!((p - 0.485_714).abs() < 1e-5, "{p}");
    assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-10);
    assert_eq!(fisher_p(Tally { passed: 5, runs: 5 }, Tally { passed: 5, runs: 5 }), 1.0);
}

#[test]
fn the_sign_test_counts_one_vote_per_block_with_the_exact_binomial_tail() {
    let block = |x: &[u64], y: &[u64]| Block { x: x.to_vec(), y: y.to_vec() };
    let mut blocks = vec![block(&[30, 31], &[20, 21]); 9];
    blocks.push(block(&[10], &[20, 21]));
    blocks.push(block(&[20], &[20])); // a draw: no vote
    blocks.push(block(&[], &[20])); // one side only: not a block
    let t = blocked_sign_test(&blocks).unwrap();
    // Nine of ten votes: 2 · (C(10,9) + C(10,10)) / 2¹⁰.
    assert!((t.p_value - 22.0 / 1024.0).abs() < 1e-12, "{t:?}");
    assert_eq!((t.u, t.effect), (9.5, 9.5 / 11.0));
    assert_eq!(blocked_sign_test(&[block(&[], &[1])]), None);
    assert_eq!(blocked_sign_test(&[block(&[5], &[5])]).unwrap().p_value, 1.0);
}

/// `n` simulated ticks of a journey run on two targets every second by `users` users each: every tick has
/// its own load (log-normal, σ = 0.5: some seconds are much busier) and each side its own hiccup in it
/// (σ = 0.2: one server's event loop was busy for all its requests of that second), the side that starts
/// second in a tick waits `order` longer (×), and `x` is `shift` slower (×). The start order alternates
/// with the tick.
fn ticks(rng: &mut StdRng, n: usize, users: usize, order: f64, shift: f64) -> Vec<Block> {
    let mut normal = || {
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    let parity = (normal() > 0.0) as usize;
    (0..n)
        .map(|k| {
            let load = 10_000.0 * (0.5 * normal()).exp();
            let (x_order, y_order) = if (k + parity) % 2 == 0 { (1.0, order) } else { (order, 1.0) };
            let mut side = |factor: f64| -> Vec<u64> {
                let hiccup = (0.2 * normal()).exp();
                (0..users).map(|_| (load * hiccup * factor * (0.15 * normal()).exp()) as u64).collect()
            };
            Block { x: side(x_order * shift), y: side(y_order) }
        })
        .collect()
}

#[test]
fn busy_moments_and_the_start_order_are_not_a_difference_between_targets_but_a_shift_is() {
    let mut rng = StdRng::seed_from_u64(0x7469_636b);
    let pooled = |blocks: &[Block]| {
        let (mut x, mut y) = (empty(), empty());
        blocks.iter().for_each(|b| {
            b.x.iter().for_each(|&v| x.saturating_record(v));
            b.y.iter().for_each(|&v| y.saturating_record(v));
        });
        mann_whitney(&x, &y).unwrap()
    };
    let (mut by_tick, mut whole_window) = (0, 0);
    for _ in 0..200 {
        let blocks = ticks(&mut rng, 60, 20, 1.3, 1.0);
        by_tick += usize::from(blocked_sign_test(&blocks).unwrap().p_value < ALPHA);
        whole_window += usize::from(pooled(&blocks).p_value < ALPHA);
    }
    eprintln!("equal targets, 200 minutes: {by_tick} flagged by tick, {whole_window} by the whole window");
    assert!(by_tick <= 4, "{by_tick} of 200 minutes of equal targets flagged");
    assert!(whole_window > 3 * by_tick.max(1), "the whole-window test is what the blocks are for");
    // The price of one vote per tick is power, which more ticks buy back: five minutes find +25 % through
    // the same noise, and one user a tick finds +30 % within a minute.
    let found = (0..50).filter(|_| blocked_sign_test(&ticks(&mut rng, 300, 20, 1.3, 1.25)).unwrap().p_value < ALPHA);
    let found = found.count();
    eprintln!("+25 %: found in {found} of 50 five-minute windows");
    assert!(found >= 48, "+25 % found in {found} of 50 five-minute windows");
    let found =
        (0..50).filter(|_| blocked_sign_test(&ticks(&mut rng, 60, 1, 1.0, 1.3)).unwrap().p_value < ALPHA).count();
    eprintln!("+30 %, one user: found in {found} of 50 minutes");
    assert!(found >= 45, "+30 % with one user a tick found in {found} of 50 minutes");
}
