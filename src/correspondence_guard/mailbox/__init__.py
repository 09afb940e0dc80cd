"""Mailboxes: the IMAP watcher, its IMAP plumbing, and reading folders, Maildirs and mbox files."""
