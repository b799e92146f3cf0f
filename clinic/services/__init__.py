"""Operations that change state. Each takes explicit arguments, adds and flushes;
the calling view or command commits once."""
