# `closer bench llm`, the llama.cpp side: run by the llama-cpp-python venv's python with the
# prompts Closer used. Reads one JSON object on stdin, writes one JSON object on stdout; progress
# lines go to stderr. Each figure is defined exactly as on Closer's side (bench.rs):
#   load     the Llama(...) constructor; the file is already in the page cache.
#   prefill  eval() of the whole prompt into an empty KV cache.
#   decode   greedy (argmax of the logits) from the end of prefill: tokens sampled / time, the last
#            sampled token not fed back, stopping at an end-of-generation token or new_tokens, as
#            GenerationStats counts it.
#   TTFT     tokenize + create_completion(max_tokens=1): prompt text to the first sampled token.
#            Cold after reset(); warm after the previous call left the conversation in the KV
#            cache, whose longest matching prefix llama-cpp-python's generate() keeps.
import json
import resource
import sys
import time


def log(message):
    print(f"bench: llama.cpp: {message}", file=sys.stderr, flush=True)


def now_ms():
    return time.perf_counter() * 1000.0


def peak_rss_bytes():
    """VmHWM of this process. Not ru_maxrss: Linux carries the parent's peak into a child's
    ru_maxrss across exec (closer spawns this script with vfork, sharing its memory map until
    exec), so ru_maxrss would report closer's own peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def common_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main():
    args = json.load(sys.stdin)
    import numpy as np
    import llama_cpp
    from llama_cpp import Llama

    threads = args["threads"]
    tokenize_only = args["mode"] == "tokenize"
    if not tokenize_only:
        log(f"loading the model (llama-cpp-python {llama_cpp.__version__}, {threads} threads)")
    started = now_ms()
    llm = Llama(
        model_path=args["model"],
        n_ctx=args["n_ctx"],
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        vocab_only=tokenize_only,
        verbose=False,
    )
    load_ms = now_ms() - started
    if not tokenize_only:
        log(f"loaded in {load_ms:.0f} ms")

    def tokens(text):
        return llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    prefix_ids = tokens(args["prefix_prompt"])
    warm_counts = [len(tokens(p)) for p in args["warm_prompts"]]
    out = {
        "version": llama_cpp.__version__,
        "load_ms": load_ms,
        "prefix_ids": prefix_ids,
        "warm_prompt_tokens": warm_counts,
    }
    if tokenize_only:
        json.dump(out, sys.stdout)
        return
    if len(prefix_ids) != args["expected_prefix_tokens"] or warm_counts != args[
        "expected_warm_tokens"
    ]:
        out["aborted"] = "the prompts tokenize to different counts"
        json.dump(out, sys.stdout)
        return

    vocab = llm._model.vocab
    n_vocab = llm.n_vocab()

    def argmax():
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,))
        return int(np.argmax(logits))

    def first_token(text):
        """Prompt text to first sampled token: the TTFT of one request."""
        t = now_ms()
        llm.create_completion(
            tokens(text),
            max_tokens=1,
            temperature=0.0,
            top_k=1,
            top_p=1.0,
            min_p=0.0,
            repeat_penalty=1.0,
        )
        return now_ms() - t

    # Untimed: threads, allocator and the graph warm up on an unrelated prompt.
    llm.reset()
    first_token(args["warmup_prompt"])

    runs = args["runs"]
    new_tokens = args["new_tokens"]
    cold = []
    for run in range(runs):
        llm.reset()
        t0 = now_ms()
        llm.eval(prefix_ids)
        t1 = now_ms()
        generated = 0
        while True:
            token = argmax()
            generated += 1
            if llama_cpp.llama_vocab_is_eog(vocab, token) or generated >= new_tokens:
                break
            llm.eval([token])
        t2 = now_ms()
        cold.append(
            {
                "prompt_tokens": len(prefix_ids),
                "cached_tokens": 0,
                "prefill_ms": t1 - t0,
                "decode_ms": t2 - t1,
                "generated_tokens": generated,
            }
        )
        log(
            f"cold run {run + 1}/{runs}: prefill {len(prefix_ids) * 1000 / (t1 - t0):.1f} tok/s, "
            f"decode {generated * 1000 / (t2 - t1):.1f} tok/s ({generated} tokens)"
        )

    ttft_cold = []
    for run in range(runs):
        llm.reset()
        ttft_cold.append(first_token(args["prefix_prompt"]))
        log(f"cold TTFT {run + 1}/{runs}: {ttft_cold[-1]:.0f} ms")

    # The conversation so far is in the KV cache; each run adds a different customer message.
    llm.reset()
    first_token(args["prefix_prompt"])
    warm = []
    for run, text in enumerate(args["warm_prompts"]):
        ids = tokens(text)
        reused = common_prefix(llm._input_ids.tolist(), ids)
        ms = first_token(text)
        warm.append({"ms": ms, "prompt_tokens": len(ids), "cached_tokens": reused})
        log(f"warm TTFT {run + 1}/{len(args['warm_prompts'])}: {ms:.0f} ms "
            f"({reused} of {len(ids)} prompt tokens in the KV cache)")

    out.update(
        {
            "cold": cold,
            "ttft_cold_ms": ttft_cold,
            "warm": warm,
            "peak_rss_bytes": peak_rss_bytes(),
        }
    )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
