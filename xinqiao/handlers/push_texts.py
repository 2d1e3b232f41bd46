"""Every texts module that words a push the services send with no flow in between.

Importing this installs them all in their ports (``services/wording_port.WordingPort``): the wiring
does, so a timer or another person's turn never pushes before its words are in place.
"""

from __future__ import annotations

from xinqiao.handlers import aftercare_texts as aftercare_texts
from xinqiao.handlers import binding_texts as binding_texts
from xinqiao.handlers import booking as booking
from xinqiao.handlers import case_texts as case_texts
from xinqiao.handlers import coverage_texts as coverage_texts
from xinqiao.handlers import escalation_texts as escalation_texts
from xinqiao.handlers import invitation_texts as invitation_texts
from xinqiao.handlers import monthly_texts as monthly_texts
from xinqiao.handlers import screening_texts as screening_texts
