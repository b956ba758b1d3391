"""DR status: one row per source item x target (`rows`), written from each sync's plan
(`snapshot`) and by each job as it ends, read a page at a time (`report`)."""
