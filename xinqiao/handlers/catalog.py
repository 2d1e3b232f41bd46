"""The explicit catalogue of flows the engine serves, and the menu over them."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from xinqiao.handlers.access_views import AuditLogFlow, StudentLookupFlow
from xinqiao.handlers.aftercare import AftercareFlow
from xinqiao.handlers.aftercare_checkin import AftercareCheckinFlow
from xinqiao.handlers.binding import BindingFlow
from xinqiao.handlers.binding_confirm import BindAnswerFlow
from xinqiao.handlers.booking.desk import CounsellorDeskFlow
from xinqiao.handlers.booking.duty import ScheduleFlow
from xinqiao.handlers.booking.on_behalf import BookForStudentFlow
from xinqiao.handlers.booking.stats import BookingStatsFlow
from xinqiao.handlers.booking.student import BookingFlow
from xinqiao.handlers.case_signoff import CaseSignoffFlow
from xinqiao.handlers.cases import CaseFlow
from xinqiao.handlers.concern import ConcernCheckFlow
from xinqiao.handlers.console_login import ConsoleLoginFlow
from xinqiao.handlers.content import texts as content_texts
from xinqiao.handlers.content.campaigns import ContentCampaignFlow
from xinqiao.handlers.content.education import EducationFlow, TipsFlow
from xinqiao.handlers.content.exercises import exercise_flows, exercise_forms
from xinqiao.handlers.flow import Flow, FlowRegistry
from xinqiao.handlers.info import CrisisHelpFlow, PreferHereFlow, ScopeFlow, WhoAmIFlow
from xinqiao.handlers.listening import ListenFlow
from xinqiao.handlers.menu import Menu, load_menu
from xinqiao.handlers.monthly_view import MonthlyConfirmFlow
from xinqiao.handlers.network import report_flows
from xinqiao.handlers.relay import RelayFlow, RelayReplyFlow
from xinqiao.handlers.reports_view import CompletionFlow
from xinqiao.handlers.results import AttentionListFlow, MyResultsFlow, StudentResultsFlow
from xinqiao.handlers.rota import DutyRotaFlow
from xinqiao.handlers.safety_plan import SafetyPlanFlow
from xinqiao.handlers.school_queue import SchoolQueueFlow
from xinqiao.handlers.screening import ScreeningFlow
from xinqiao.handlers.screening_optout import ScreeningOptOutFlow
from xinqiao.handlers.screening_rounds import RoundCompletionFlow
from xinqiao.handlers.staff import AckFlow, QueueFlow, ResolveFlow
from xinqiao.services.content.service import Content
from xinqiao.services.instruments import Instrument
from xinqiao.services.network import Network


def build_catalogue(
    menu_file: Path | None = None,
    extra: tuple[Flow, ...] = (),
    network: Network | None = None,
    instruments: dict[str, Instrument] | None = None,
    content: Content | None = None,
) -> tuple[FlowRegistry, Menu]:
    """Register every flow; ``extra`` lets tests and later capabilities add their own."""
    flows = FlowRegistry()
    menu = Menu(load_menu(menu_file), flows)
    # Exercises are content: a centre's own come from the content library's CONTENT_DIR/forms.
    exercises = exercise_forms(content.library.content_dir if content is not None else None)
    builtin: tuple[Flow, ...] = (BindingFlow(menu), BindAnswerFlow(yes=True),
                                 BindAnswerFlow(yes=False), WhoAmIFlow(), PreferHereFlow(),
                                 CrisisHelpFlow(), ScopeFlow(), StudentLookupFlow(),
                                 AuditLogFlow(), ListenFlow(content), *exercise_flows(exercises),
                                 ConsoleLoginFlow(), SafetyPlanFlow())
    if content is not None:
        builtin += (EducationFlow(content), TipsFlow(on=True), TipsFlow(on=False),
                    ContentCampaignFlow(content))
    if network is not None:
        esc = network.escalations
        builtin += (*report_flows(network), AckFlow(esc), ResolveFlow(esc), QueueFlow(esc),
                    SchoolQueueFlow(),
                    CompletionFlow(network.week_periods, network.policy.checkin_due_at),
                    MonthlyConfirmFlow(), CaseFlow(network.policy),
                    DutyRotaFlow(), RelayFlow(), RelayReplyFlow(), ConcernCheckFlow(network),
                    CaseSignoffFlow(), AftercareFlow(network.policy.aftercare),
                    AftercareCheckinFlow(network))
        policy = network.policy
        builtin += (BookingFlow(policy), CounsellorDeskFlow(policy), ScheduleFlow(policy),
                    BookingStatsFlow(policy), BookForStudentFlow(policy))
        if instruments:
            recommend = (partial(content_texts.reading_after, content) if content is not None
                         else None)
            builtin += (ScreeningFlow(instruments, network, recommend=recommend),
                        ScreeningOptOutFlow(),
                        MyResultsFlow(instruments), StudentResultsFlow(instruments),
                        AttentionListFlow(), RoundCompletionFlow())
    for flow in (*builtin, *extra):
        flows.add(flow)
    return flows, menu
