"""Delivery: everything that imports Flask or click. The app factory, the command line, the
pages, the JSON API, the scheduler and the demo translate a request or a command into a
domain call and render its answer; nothing outside this package imports it."""
