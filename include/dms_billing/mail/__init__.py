"""Every email message, built as EmailMessage (sending is the flows' job). Imports core and outputs."""
