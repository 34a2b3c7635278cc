"""In-process, table-driven tests of each worker flow against the fake GitHub over HTTP."""
