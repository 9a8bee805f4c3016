"""What the four API families share, once: events today; the API and import machinery as they move here."""
