"""Aftercare after an incident: the incident record, care rounds for roommates and classmates,
their answers, and the wording port of their pushes."""
