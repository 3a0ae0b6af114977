"""options_from_form: KubeSpawner's conversion of the profile form's data."""

import pytest

from kubedesk_spawner import options_from_form

CASES = {
    "empty form: default profile": ({}, {}),
    "profile only": ({"profile": ["desktop"]}, {"profile": "desktop"}),
    "options of the chosen profile": (
        {
            "profile": ["gpu"],
            "profile-option-gpu--image": ["jammy"],
            "profile-option-gpu--size": ["large"],
        },
        {"profile": "gpu", "image": "jammy", "size": "large"},
    ),
    "other profiles' options are dropped": (
        {
            "profile": ["gpu"],
            "profile-option-gpu--image": ["jammy"],
            "profile-option-cpu--image": ["focal"],
            "profile-option-gpu-big--image": ["noble"],
        },
        {"profile": "gpu", "image": "jammy"},
    ),
    "unlisted choice": (
        {
            "profile": ["custom"],
            "profile-option-custom--image": ["--unlisted-choice"],
            "profile-option-custom--image--unlisted-choice": ["me/desktop:1.2"],
        },
        {
            "profile": "custom",
            "image": "--unlisted-choice",
            "image--unlisted-choice": "me/desktop:1.2",
        },
    ),
    "fields outside the profile scheme are dropped": (
        {"profile": ["desktop"], "_xsrf": ["abc"], "display_name": ["x"]},
        {"profile": "desktop"},
    ),
    "several values stay a list": (
        {"profile": ["p"], "profile-option-p--tags": ["a", "b"]},
        {"profile": "p", "tags": ["a", "b"]},
    ),
    "scalar values (query or JSON) pass": (
        {"profile": "p", "profile-option-p--image": "jammy"},
        {"profile": "p", "image": "jammy"},
    ),
    "unicode slug": (
        {"profile": ["bürø"], "profile-option-bürø--image": ["x"]},
        {"profile": "bürø", "image": "x"},
    ),
}


@pytest.mark.parametrize(("formdata", "expected"), CASES.values(), ids=CASES.keys())
def test_options_from_form(formdata, expected):
    assert options_from_form(formdata) == expected
