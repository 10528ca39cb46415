"""Names vulture cannot see used (tests/test_project.py::test_no_dead_code): read by a framework,
or reached only through a string."""

from helpers.core import config
from helpers.render import chart_style, html
from helpers.run import kernels
from helpers.sections import traffic

config._Strict.model_config  # pydantic reads it
config.Config._quarter_is_valid  # pydantic validators, run on parsing
config.Config._encoding_is_known
config.Config._subdir_stays_inside
config.Config._tables_are_known
config.Config._sections_are_known
config.Config._path_unless_url
config.ClvParams.max_spend_correlation  # read from config.clv.model_dump() by the CLV findings
config.CampaignWindow.warm_up  # sections.campaigns reads each phase with getattr
config.CampaignWindow._month_days  # a pydantic validator
html.DropStderrAndErrors.preprocess_cell  # nbconvert calls it
chart_style.Chart._repr_mimebundle_  # IPython's display calls it
kernels.KernelManager().transport  # jupyter_client reads the connection settings
kernels.KernelManager().ip
kernels.KernelManager().connection_file
traffic.TrafficSection.tests_qoq  # the notebook reads getattr(section, f"tests_{basis}")
traffic.TrafficSection.tests_yoy
