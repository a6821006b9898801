"""Built-in format plugins: one module per carrier format, each exporting `PLUGINS`."""
