"""The worker process: the Faust app that runs both stages, and everything with I/O around them.

Duties: app wiring, driving each agent's records with offsets, commits and gap repair, stall
detection, periodic upkeep, state restore, Prometheus metrics, the web server and the ops API.
"""
