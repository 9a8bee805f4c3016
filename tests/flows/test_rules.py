"""The graph rules of a flow version (flows/rules.py), and the admin's transition form that uses them."""

from django.forms import modelform_factory

from flows import rules
from flows.admin import OTHER_VERSION, StepTransitionForm
from flows.models import StepTransition
from tests.flows.factories import make_version


def test_start_steps_are_found_by_position():
    assert rules.start_steps(["LLM", "START", "USER_INPUT", "START"]) == [1, 3]
    assert rules.start_steps([]) == []


def test_repeats_are_named_by_their_key_after_the_first():
    assert rules.repeated(enumerate(["a", "b", "a", "a", None, None])) == [2, 3, 5]
    assert rules.repeated([]) == []


def test_ends_outside_the_version_are_named_in_order():
    ends = [("s0", 1, {1, 2}), ("t0", 3, {1, 2}), ("s1", "x", {"x"}), ("t1", "y", {"x"})]
    assert rules.outside(ends) == ["t0", "t1"]


def test_the_admin_refuses_a_transition_into_another_version(tenant):
    version, steps = make_version(tenant.organization)
    _, other_steps = make_version(tenant.organization)
    # As the transition admin builds its form.
    form_class = modelform_factory(StepTransition, form=StepTransitionForm,
                                   fields=["flow_version", "source_step", "target_step", "label"])
    fields = {"flow_version": version.pk, "label": ""}
    form = form_class({**fields, "source_step": steps[0].pk, "target_step": other_steps[1].pk})
    assert form.errors == {"target_step": [OTHER_VERSION]}
    form = form_class({**fields, "source_step": other_steps[0].pk, "target_step": other_steps[1].pk})
    assert form.errors == {"source_step": [OTHER_VERSION], "target_step": [OTHER_VERSION]}
    form = form_class({**fields, "source_step": steps[0].pk, "target_step": steps[1].pk})
    assert form.is_valid(), form.errors
