//! Knowledge sources, chunking, sparse/dense vectors and the `VectorIndex` backends.
