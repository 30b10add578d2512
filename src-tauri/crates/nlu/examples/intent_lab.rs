//! Model selection for the intent head on a dev split carved out of the training set (the test
//! set is only scored, never selected on). `cargo run --release -p closer-nlu --example
//! intent_lab -- MODELS_DIR TRAIN.jsonl TEST.jsonl`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use closer_nlu::data::{self, IntentLine};
use closer_nlu::encoder::Encoder;
use closer_nlu::eval;
use closer_nlu::features;
use closer_nlu::head::{Example, Head, HeadKind, TrainOptions};

const LAYERS: [usize; 4] = [6, 9, 11, 12];

fn pools(encoder: &Encoder, lines: &[IntentLine], name: &str) -> Vec<Vec<f32>> {
    let dim = 2 * LAYERS.len() * encoder.dim();
    let path = PathBuf::from(format!("/tmp/lab/{name}.f32"));
    if let Ok(mut f) = std::fs::File::open(&path) {
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).expect("intent lab");
        if bytes.len() == lines.len() * dim * 4 {
            let v: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("intent lab")))
                .collect();
            return v.chunks(dim).map(<[f32]>::to_vec).collect();
        }
    }
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let mut out = Vec::new();
    let t = std::time::Instant::now();
    for (i, chunk) in texts.chunks(64).enumerate() {
        out.extend(encoder.layer_pools(chunk, &LAYERS).expect("intent lab"));
        if i % 20 == 0 {
            eprintln!("{name}: {}/{} {:.0}s", out.len(), texts.len(), t.elapsed().as_secs_f64());
        }
    }
    std::fs::create_dir_all("/tmp/lab").expect("intent lab");
    let mut f = std::fs::File::create(&path).expect("intent lab");
    for v in &out {
        for x in v {
            f.write_all(&x.to_le_bytes()).expect("intent lab");
        }
    }
    out
}

fn normalise(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}

/// Parts: (layer index into LAYERS, 0 mean / 1 max).
fn compose(raw: &[f32], dim: usize, parts: &[(usize, usize)]) -> Vec<f32> {
    let mut out = Vec::new();
    for &(l, k) in parts {
        let start = (2 * l + k) * dim;
        out.extend(normalise(&raw[start..start + dim]));
    }
    out
}

fn labels_of(lines: &[IntentLine], labels: &[String]) -> Vec<Vec<usize>> {
    lines
        .iter()
        .map(|l| l.labels.iter().filter_map(|x| labels.iter().position(|y| y == x)).collect())
        .collect()
}

fn knn(
    train: &[Vec<f32>],
    train_y: &[Vec<usize>],
    q: &[f32],
    n_labels: usize,
    k: usize,
    tau: f32,
) -> Vec<f32> {
    let mut sims: Vec<(f32, usize)> = train
        .iter()
        .enumerate()
        .map(|(i, t)| (t.iter().zip(q).map(|(a, b)| a * b).sum(), i))
        .collect();
    sims.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
    let mut p = vec![0f32; n_labels];
    let mut total = 0.0;
    for &(s, i) in &sims[..k] {
        let w = ((s - 1.0) / tau).exp();
        total += w;
        for &l in &train_y[i] {
            p[l] += w;
        }
    }
    p.iter_mut().for_each(|x| *x /= total);
    p
}

struct Run {
    head: Head,
    tr_dense: Vec<Vec<f32>>,
    tr_y: Vec<Vec<usize>>,
}

fn train(
    lines: &[IntentLine],
    dense: &[Vec<f32>],
    labels: &[String],
    options: &TrainOptions,
) -> Run {
    let y = labels_of(lines, labels);
    let examples: Vec<Example> = lines
        .iter()
        .zip(dense)
        .zip(&y)
        .map(|((l, d), y)| Example {
            dense: d.clone(),
            sparse: features::ngrams(&l.text),
            labels: y.clone(),
        })
        .collect();
    let head = Head::train(HeadKind::MultiLabel, labels.to_vec(), "lab", &examples, options)
        .expect("intent lab");
    Run { head, tr_dense: dense.to_vec(), tr_y: y }
}

#[allow(clippy::type_complexity)]
fn probs(
    run: &Run,
    lines: &[IntentLine],
    dense: &[Vec<f32>],
    knn_w: f32,
    knn_dense: Option<(&[Vec<f32>], &[Vec<f32>])>,
) -> Vec<Vec<f32>> {
    let n = run.head.info.labels.len();
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut p = run.head.predict(&dense[i], &features::ngrams(&l.text));
            if knn_w > 0.0 {
                let (tr, te) = knn_dense.unwrap_or((&run.tr_dense, dense));
                let k = knn(tr, &run.tr_y, &te[i], n, 10, 0.05);
                for (a, b) in p.iter_mut().zip(k) {
                    *a = (1.0 - knn_w) * *a + knn_w * b;
                }
            }
            p
        })
        .collect()
}

fn decide(p: &[Vec<f32>], th: &[f32]) -> Vec<Vec<usize>> {
    p.iter()
        .map(|p| {
            let mut out: Vec<usize> = (0..p.len()).filter(|&l| p[l] >= th[l]).collect();
            if out.is_empty() {
                let top = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).expect("intent lab");
                out.push(top);
            }
            out
        })
        .collect()
}

fn tune(p: &[Vec<f32>], y: &[Vec<usize>], n: usize) -> Vec<f32> {
    (0..n)
        .map(|l| {
            let mut best = (0.5, -1.0);
            for s in 2..=16 {
                let t = s as f32 * 0.05;
                let (mut tp, mut fp, mut fn_) = (0, 0, 0);
                for (p, y) in p.iter().zip(y) {
                    match (p[l] >= t, y.contains(&l)) {
                        (true, true) => tp += 1,
                        (true, false) => fp += 1,
                        (false, true) => fn_ += 1,
                        _ => {}
                    }
                }
                let f = 2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64;
                if f > best.1 + 1e-9 {
                    best = (t, f);
                }
            }
            best.0
        })
        .collect()
}

fn score(labels: &[String], lines: &[IntentLine], y: &[Vec<usize>], pred: &[Vec<usize>]) -> String {
    let all = eval::multi_label(labels, y, pred);
    let mut s = format!(
        "macro {:.4} micro {:.4} subset {:.4}",
        all.macro_f1, all.micro_f1, all.subset_accuracy
    );
    for lang in ["zh", "en"] {
        let idx: Vec<usize> =
            (0..lines.len()).filter(|&i| lines[i].lang.as_deref() == Some(lang)).collect();
        if idx.is_empty() || idx.len() == lines.len() {
            continue;
        }
        let yy: Vec<Vec<usize>> = idx.iter().map(|&i| y[i].clone()).collect();
        let pp: Vec<Vec<usize>> = idx.iter().map(|&i| pred[i].clone()).collect();
        let m = eval::multi_label(labels, &yy, &pp);
        s += &format!(" | {lang} {:.4}", m.macro_f1);
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let models = Path::new(&args[1]);
    let train_lines: Vec<IntentLine> = data::read_jsonl(Path::new(&args[2])).expect("intent lab");
    let test_lines: Vec<IntentLine> = data::read_jsonl(Path::new(&args[3])).expect("intent lab");
    let tag = args.get(4).cloned().unwrap_or_else(|| "sales".into());
    let only: Option<String> = args.get(5).cloned();
    let encoder = Encoder::load(models, "multilingual-e5-small").expect("intent lab");
    let dim = encoder.dim();
    let tr_raw = pools(&encoder, &train_lines, &format!("{tag}-train"));
    let te_raw = pools(&encoder, &test_lines, &format!("{tag}-test"));
    let mut labels: Vec<String> = train_lines.iter().flat_map(|l| l.labels.clone()).collect();
    labels.sort();
    labels.dedup();
    // Dev split: every sixth block of 25 consecutive lines (lines written together stay together).
    let is_dev = |i: usize| (i / 25) % 6 == 5;
    let variants: Vec<(&str, Vec<(usize, usize)>)> = vec![
        ("mean12", vec![(3, 0)]),
        ("mean12+max12", vec![(3, 0), (3, 1)]),
        ("mean12+mean9", vec![(3, 0), (1, 0)]),
        ("mean12+mean11+mean9+mean6", vec![(3, 0), (2, 0), (1, 0), (0, 0)]),
        ("mean12+max12+mean9+max9", vec![(3, 0), (3, 1), (1, 0), (1, 1)]),
        ("all8", vec![(3, 0), (3, 1), (2, 0), (2, 1), (1, 0), (1, 1), (0, 0), (0, 1)]),
    ];
    for (name, parts) in &variants {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let tr: Vec<Vec<f32>> = tr_raw.iter().map(|r| compose(r, dim, parts)).collect();
        let te: Vec<Vec<f32>> = te_raw.iter().map(|r| compose(r, dim, parts)).collect();
        let knn_tr: Vec<Vec<f32>> = tr_raw.iter().map(|r| compose(r, dim, &[(3, 0)])).collect();
        let knn_te: Vec<Vec<f32>> = te_raw.iter().map(|r| compose(r, dim, &[(3, 0)])).collect();
        let (fit_i, dev_i): (Vec<usize>, Vec<usize>) =
            (0..train_lines.len()).partition(|&i| !is_dev(i));
        let pick =
            |v: &[Vec<f32>], idx: &[usize]| idx.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        let fit_lines: Vec<IntentLine> = fit_i.iter().map(|&i| train_lines[i].clone()).collect();
        let dev_lines: Vec<IntentLine> = dev_i.iter().map(|&i| train_lines[i].clone()).collect();
        let t = std::time::Instant::now();
        let options = TrainOptions::default();
        let run = train(&fit_lines, &pick(&tr, &fit_i), &labels, &options);
        let secs = t.elapsed().as_secs_f64();
        let dev_y = labels_of(&dev_lines, &labels);
        let te_y = labels_of(&test_lines, &labels);
        let full = train(&train_lines, &tr, &labels, &options);
        for knn_w in [0.0f32, 0.3, 0.5] {
            let kd_fit = pick(&knn_tr, &fit_i);
            let kd_dev = pick(&knn_tr, &dev_i);
            let dp = probs(&run, &dev_lines, &pick(&tr, &dev_i), knn_w, Some((&kd_fit, &kd_dev)));
            let th_default = vec![0.5; labels.len()];
            let head_th: Vec<f32> = (0..labels.len())
                .map(|l| run.head.info.label_thresholds.get(l).copied().unwrap_or(0.5))
                .collect();
            let tuned = tune(&dp, &dev_y, labels.len());
            let tp = probs(&full, &test_lines, &te, knn_w, Some((&knn_tr, &knn_te)));
            for (thname, th) in [("0.5", &th_default), ("head", &head_th), ("dev", &tuned)] {
                println!(
                    "{name:<28} knn {knn_w:.1} th {thname:<4} dev {} || test {}  ({secs:.1}s)",
                    score(&labels, &dev_lines, &dev_y, &decide(&dp, th)),
                    score(&labels, &test_lines, &te_y, &decide(&tp, th)),
                );
            }
        }
    }
}
