"""Model: preprocessing built from the data spec, training and evaluation per task."""
