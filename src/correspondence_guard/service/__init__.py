"""The HTTP service the Outlook add-in calls: the API and its routers, what guards it, the add-in files, metrics and the pool of check processes."""
