"""The watcher thread and its back-ends: inotify, watchdog's observers, polling.  Internal."""
