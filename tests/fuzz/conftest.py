"""Hypothesis profiles of the fuzz tests.

The default suite runs each fuzz test with the ``examples`` count it names (about 60 s for the
whole directory on a loaded 2-core machine). For a longer hunt:

    pytest tests/fuzz --hypothesis-profile gfrpc-fuzz-medium --timeout 0   # 3,000 per test
    pytest tests/fuzz --hypothesis-profile gfrpc-fuzz-long --timeout 0     # 20,000 per test

(``fuzz_support.fuzz_settings`` raises every test to the loaded profile's count.)
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "gfrpc-fuzz-medium",
    max_examples=3_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "gfrpc-fuzz-long",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
