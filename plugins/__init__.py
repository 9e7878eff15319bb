"""Built-in plugins: one module per cascade stage, each using only public hooks."""
