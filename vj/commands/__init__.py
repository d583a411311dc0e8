"""One module per `vj` command that needs more than a few lines."""
