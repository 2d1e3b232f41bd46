"""The form schema as handlers use it (defined once in ``services/forms/schema.py``)."""

from __future__ import annotations

from xinqiao.services.forms.condition import Condition
from xinqiao.services.forms.loader import FormSpecError, load_form, load_forms, packaged_form
from xinqiao.services.forms.schema import FieldKind, FormField, FormSpec, Option

__all__ = [
    "Condition", "FieldKind", "FormField", "FormSpec", "FormSpecError", "Option", "load_form",
    "load_forms", "packaged_form",
]
