//! Chat templates: how messages become the prompt text a model was trained on. The template is
//! chosen from the GGUF's `tokenizer.chat_template` (or its special tokens), so an imported model
//! is prompted the way it expects.

use serde::{Deserialize, Serialize};

use crate::{ChatMessage, ChatRole};

/// The prompt formats Closer renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatTemplate {
    /// `<|im_start|>role\n…<|im_end|>` (Qwen2/2.5/3, SmolLM2).
    ChatMl,
    /// `<start_of_turn>user\n…<end_of_turn>` (Gemma); system text joins the first user turn.
    Gemma,
    /// `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` (Llama 3).
    Llama3,
}

impl ChatTemplate {
    /// Picks the template from the GGUF's Jinja template text, falling back to the special tokens
    /// the vocabulary has.
    pub fn detect(jinja: Option<&str>, has_token: impl Fn(&str) -> bool) -> Self {
        let jinja = jinja.unwrap_or("");
        if jinja.contains("<|im_start|>") {
            ChatTemplate::ChatMl
        } else if jinja.contains("<start_of_turn>") {
            ChatTemplate::Gemma
        } else if jinja.contains("<|start_header_id|>") {
            ChatTemplate::Llama3
        } else if has_token("<start_of_turn>") {
            ChatTemplate::Gemma
        } else if has_token("<|start_header_id|>") {
            ChatTemplate::Llama3
        } else {
            ChatTemplate::ChatMl
        }
    }

    /// Strings that end the assistant's turn, beyond the tokenizer's end-of-sequence token.
    pub fn end_of_turn(self) -> &'static str {
        match self {
            ChatTemplate::ChatMl => "<|im_end|>",
            ChatTemplate::Gemma => "<end_of_turn>",
            ChatTemplate::Llama3 => "<|eot_id|>",
        }
    }

    /// The prompt for `messages`, ending with the opening of the assistant's turn. Rendering is
    /// prefix-stable: the prompt for a conversation is a prefix of the prompt for the same
    /// conversation with more turns, which is what the prefix KV cache relies on.
    pub fn render(self, messages: &[ChatMessage]) -> String {
        let mut out = String::new();
        match self {
            ChatTemplate::ChatMl => {
                for m in messages {
                    out.push_str("<|im_start|>");
                    out.push_str(role_name(m.role, "assistant"));
                    out.push('\n');
                    out.push_str(&m.content);
                    out.push_str("<|im_end|>\n");
                }
                out.push_str("<|im_start|>assistant\n");
            }
            ChatTemplate::Gemma => {
                out.push_str("<bos>");
                let mut pending_system = String::new();
                for m in messages {
                    if m.role == ChatRole::System {
                        pending_system.push_str(&m.content);
                        pending_system.push_str("\n\n");
                        continue;
                    }
                    out.push_str("<start_of_turn>");
                    out.push_str(role_name(m.role, "model"));
                    out.push('\n');
                    if m.role == ChatRole::User {
                        out.push_str(&std::mem::take(&mut pending_system));
                    }
                    out.push_str(&m.content);
                    out.push_str("<end_of_turn>\n");
                }
                out.push_str("<start_of_turn>model\n");
            }
            ChatTemplate::Llama3 => {
                out.push_str("<|begin_of_text|>");
                for m in messages {
                    out.push_str("<|start_header_id|>");
                    out.push_str(role_name(m.role, "assistant"));
                    out.push_str("<|end_header_id|>\n\n");
                    out.push_str(&m.content);
                    out.push_str("<|eot_id|>");
                }
                out.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
        }
        out
    }
}

fn role_name(role: ChatRole, assistant: &'static str) -> &'static str {
    match role {
        ChatRole::System => "system",
        ChatRole::User => "user",
        ChatRole::Assistant => assistant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_matches_the_qwen_layout() {
        let prompt = ChatTemplate::ChatMl
            .render(&[ChatMessage::system("You are Closer."), ChatMessage::user("你好")]);
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are Closer.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn rendering_is_prefix_stable() {
        for t in [ChatTemplate::ChatMl, ChatTemplate::Gemma, ChatTemplate::Llama3] {
            let first = vec![ChatMessage::system("s"), ChatMessage::user("u1")];
            let mut longer = first.clone();
            longer.push(ChatMessage::assistant("a1"));
            longer.push(ChatMessage::user("u2"));
            assert!(t.render(&longer).starts_with(&t.render(&first)), "{t:?}");
        }
    }

    #[test]
    fn gemma_folds_the_system_prompt_into_the_first_user_turn() {
        let prompt = ChatTemplate::Gemma
            .render(&[ChatMessage::system("Be brief."), ChatMessage::user("Hi")]);
        assert_eq!(
            prompt,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn detects_from_jinja_or_tokens() {
        assert_eq!(
            ChatTemplate::detect(Some("{{'<|im_start|>'}}"), |_| false),
            ChatTemplate::ChatMl
        );
        assert_eq!(ChatTemplate::detect(None, |t| t == "<start_of_turn>"), ChatTemplate::Gemma);
        assert_eq!(
            ChatTemplate::detect(Some("<|start_header_id|>"), |_| false),
            ChatTemplate::Llama3
        );
    }
}
