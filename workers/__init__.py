"""Background processes: the scheduler and the adapters to IMAP and SMTP."""
