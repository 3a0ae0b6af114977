// Package profile implements KubeSpawner's profile_list for kubedesk, so an
// operator can paste a Zero to JupyterHub singleuser.profileList unchanged
// and users get the same choices, form and results.
//
// The flow:
//
//   - At load, Parse (or Load) decodes the list from YAML or JSON, strictly,
//     keeping the operator's order of options and choices, and deriving a
//     missing slug from display_name. Validate then merges every override
//     (of each profile, choice and unlisted choice) over the base
//     podspec.Settings and decodes the result strictly, so a misspelt key
//     stops the service with a message naming where it is instead of
//     failing, or being ignored, when a user spawns.
//   - RenderForm gives the hub its options_form; FromForm turns the posted
//     form into user_options as KubeSpawner's options_from_form does.
//   - At each spawn, Resolve applies user_options: base settings, then the
//     profile's kubespawner_override, then each option's chosen (or
//     default) choice's override. Mappings merge recursively, other values
//     replace, and null deletes a key: the setting decodes as unset and
//     podspec's default for an unset field applies. Mistakes in
//     user_options are *ValidationError, for a 400 answer.
//   - Public is the same list without overrides, for GET /api/v1/profiles.
//
// Where kubedesk differs from KubeSpawner, on purpose:
//
//   - Unknown keys are errors, in the profile list and in user_options
//     alike; KubeSpawner ignores unknown user_options, so a client's typo
//     silently spawns the defaults.
//   - validation_regex must match the whole value (KubeSpawner's re.match
//     anchors only the start), the same rule as the HTML pattern attribute,
//     so the form's hint and the server agree. It is Go's RE2 syntax: Python
//     look-arounds fail in Validate.
//   - A listed choice wins over free text sent along with it: this form
//     works without a script, so it posts the text field whatever the
//     drop-down says, and text left there must not beat the user's choice.
//   - display_name and description are text, escaped in the form;
//     KubeSpawner's template writes them as raw HTML.
//   - A number given for a string setting (cpu_limit: 2) becomes its text,
//     since podspec.Settings holds Kubernetes quantities as strings.
//   - A derived slug replaces non-ASCII letters with "-" where
//     python-slugify would transliterate them; set slug to be sure.
//   - Overrides are data: KubeSpawner's callables have no equivalent.
package profile
