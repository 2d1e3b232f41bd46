"""The form schema as handlers use it (defined once in ``services/form_schema.py``)."""

from __future__ import annotations

from xinqiao.services.form_condition import Condition
from xinqiao.services.form_loader import FormSpecError, load_form, load_forms, packaged_form
from xinqiao.services.form_schema import FieldKind, FormField, FormSpec, Option

__all__ = [
    "Condition", "FieldKind", "FormField", "FormSpec", "FormSpecError", "Option", "load_form",
    "load_forms", "packaged_form",
]
