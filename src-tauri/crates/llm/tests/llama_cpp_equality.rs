//! Greedy output of the local runtime equals llama.cpp's (through llama-cpp-python, installed by
//! `bash .ci/llama-cpp`) on the same GGUF file and the same prompts, token for token: the prompt
//! tokenization and at least the first 16 generated tokens. Both installed models are checked:
//! the test model and the demo default.
//!
//! Two correct implementations may pick different tokens where the top two logits nearly tie
//! (margin under [`NEAR_TIE`]); the prompts below are ones whose first 16 steps both runtimes
//! decide alike on both models, and a failure reports the margins so a tie is easy to see.
//! llama.cpp runs with f32 keys and values (see `support::llama_server`), as the local runtime.

mod support;

use closer_llm::{ChatMessage, GenerateRequest, LoadOptions, LocalModel, SamplingParams};
use support::llama_server::llama_cpp_greedy;

const TOKENS: usize = 20;
const AT_LEAST: usize = 16;
const NEAR_TIE: f32 = 0.02;

/// Prompts whose first 16 greedy steps have no near tie on llama.cpp's side, so both runtimes must
/// decide them alike. SmolLM2 is the touchy one: of 9 such prompts tried at the last change of
/// kernels, 5 agree for all 20 tokens with Closer's packed Q8_0 kernel (3 with candle's stored
/// Q8_0 kernels); the others part at a step whose margin is 0.07–0.1, which is how far the two
/// runtimes' logits drift apart over its 30 layers (summation order, exp and silu
/// approximations). On Qwen the three below agree, as do 4 of 7 others tried (two of the three
/// that part have a near tie).
fn prompts(model_id: &str) -> Vec<Vec<ChatMessage>> {
    let system = "You are Closer, a friendly sales consultant. Answer in the customer's language.";
    let users: &[&str] = if model_id.starts_with("qwen") {
        &[
            "What is a cloud server?",
            "Do you offer a free trial?",
            "Tell me about your refrigerator with large buttons.",
        ]
    } else {
        &["Do you offer a free trial?", "Can I pay by invoice?", "How long is the warranty?"]
    };
    users.iter().map(|u| vec![ChatMessage::system(system), ChatMessage::user(*u)]).collect()
}

fn check(model_id: &str) {
    let path = closer_llm::catalog::installed_model(model_id)
        .unwrap_or_else(|e| panic!("{e}: run `closer models fetch {model_id}`"));
    let model = LocalModel::load(&path, LoadOptions::default(), &mut |_, _| {}).expect("load");
    let content = {
        let mut f = std::fs::File::open(&path).expect("open");
        candle_core::quantized::gguf_file::Content::read(&mut f).expect("gguf")
    };
    let tokenizer = closer_llm::tokenizer::from_gguf(&content, &path).expect("tokenizer");
    for messages in prompts(model_id) {
        let prompt = model.info().template.render(&messages);
        let request = GenerateRequest {
            messages,
            params: SamplingParams::greedy(TOKENS),
            n: 1,
            cache_key: None,
        };
        let ours_prompt = model.prompt_tokens(&request).expect("tokens");
        let peer = llama_cpp_greedy(&path, &prompt, TOKENS);
        assert_eq!(
            ours_prompt, peer.prompt_ids,
            "{model_id}: prompt tokenization differs for {prompt:?}"
        );
        let (mut out, stats) = model.generate(request).collect().expect("generate");
        let (text, _) = out.remove(0);
        let context = format!(
            "{model_id} on {prompt:?}\n ours:      {text:?} ({} tokens)\n llama.cpp: {:?} ({} tokens, eog {}), margins {:?}",
            stats.generated_tokens,
            peer.text,
            peer.token_ids.len(),
            peer.hit_eog,
            peer.margins
        );
        assert!(peer.hit_eog || peer.token_ids.len() == TOKENS, "{context}");
        let compared = AT_LEAST.min(peer.token_ids.len());
        let expected = tokenizer.decode(&peer.token_ids[..compared]).expect("decode");
        let tie = peer.margins.iter().take(compared).position(|m| *m < NEAR_TIE);
        assert!(
            text.starts_with(&expected),
            "the first {compared} tokens differ (near tie in them: {tie:?})\n{context}"
        );
        if compared == peer.token_ids.len() {
            assert_eq!(text, peer.text, "{context}");
            assert_eq!(
                stats.generated_tokens,
                peer.token_ids.len() + usize::from(peer.hit_eog),
                "{context}"
            );
        }
    }
}

#[test]
fn smollm2_greedy_equals_llama_cpp() {
    check("smollm2-135m-instruct");
}

#[test]
fn qwen_default_greedy_equals_llama_cpp() {
    check("qwen2.5-coder-0.5b-instruct");
}
