"""Training and export (torch). Never imported by the runtime path."""
