"""Routes are added in the next step."""
