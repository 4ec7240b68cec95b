"""The app factory and what every service's API shares."""
