"""HTTP only: each blueprint validates a form, calls a service, commits, redirects."""
