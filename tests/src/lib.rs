//! End-to-end harness: a fake Discord and fake OpenAI-compatible server on 127.0.0.1.
