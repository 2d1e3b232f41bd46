"""Cases (个案): opening and closing, the team, records, sign-off, what staff may read of one,
and the wording port of their pushes."""
