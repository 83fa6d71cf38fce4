"""The project's one error hierarchy root.

It lives in ``training`` because that is the package every other one
(``kg``, ``molgen``, ``imaging``, ``medgen``) may import; each domain
subclasses it in its own ``errors`` module.
"""


class MedgenError(Exception):
    """Base of every error medgen raises on purpose."""
