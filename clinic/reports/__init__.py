"""Session-prep reports: the context builder, the HTML templates and the PDF renderer."""
