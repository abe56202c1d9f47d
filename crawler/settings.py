"""Scrapy settings of the trialkb crawler: politeness and resilience are settings.

One settings module for every environment; tests and users override single keys with
``-s KEY=VALUE`` (scrapy) or ``trialkb crawl -s KEY=VALUE``.
"""

BOT_NAME = "trialkb"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

from importlib.metadata import PackageNotFoundError, version

try:
    _VERSION = version("trialkb")
except PackageNotFoundError:  # a source checkout that was not installed
    _VERSION = "dev"

USER_AGENT = f"trialkb/{_VERSION} (CAR cell-therapy trial knowledge base; +https://pypi.org/project/trialkb/)"

# Robots policy: the documented data API (/api/v2) is the registry's interface for programs, so the
# spider does not ask robots.txt about it (``dont_obey_robotstxt`` on API requests, crawler.spiders.ctgov);
# robots.txt's "Disallow: /api/" is written for crawlers of the web site. Anything else a spider fetches
# (HTML pages of other registries) obeys robots.txt.
ROBOTSTXT_OBEY = True

# robots.txt asks for a 1 s crawl delay; Scrapy does not apply Crawl-delay itself (scrapy#892).
# AutoThrottle never goes below DOWNLOAD_DELAY (its minimum), so 1 s between requests holds whatever it says.
DOWNLOAD_DELAY = 1.0
RANDOMIZE_DOWNLOAD_DELAY = False
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
CONCURRENT_REQUESTS = 4
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DNS_TIMEOUT = 15  # an offline machine is told so within seconds, not after minutes of retries

# Retries with backoff on 429 (Retry-After honoured) and 5xx; see crawler.middlewares. A 403 comes
# from the registry's bot filter, which is intermittent: retried TRIALKB_RETRY_403_TIMES times, then
# the run stops with advice. DNS failures are not retried (the machine is offline).
RETRY_ENABLED = True
RETRY_TIMES = 5
RETRY_HTTP_CODES = [403, 429, 500, 502, 503, 504, 522, 524, 408]
TRIALKB_RETRY_403_TIMES = 3
RETRY_BACKOFF_BASE = 2.0  # seconds; doubled per retry of one request
RETRY_BACKOFF_MAX = 120.0
RETRY_AFTER_MAX = 600.0
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
}

DOWNLOAD_TIMEOUT = 120
DOWNLOAD_MAXSIZE = 256 * 1024 * 1024  # a 1,000-study page is ~30 MB
DOWNLOAD_WARNSIZE = 96 * 1024 * 1024
# Scrapy stops handing responses to the spider while those in process (items not yet stored)
# exceed this; at the 5 MB default one 30 MB page was parsed only after the last was stored.
# 64 MB (two pages) gave the same speed as 128 MB with 15% less memory (bench/crawl_bench.py).
SCRAPER_SLOT_MAX_ACTIVE_SIZE = 64 * 1024 * 1024

# Error budget: the CloseSpider extension (enabled by default) stops a run after this many
# spider errors; a page that stays corrupt after its retries raises one (crawler.spiders.ctgov).
CLOSESPIDER_ERRORCOUNT = 25

ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 300}

LOG_LEVEL = "INFO"
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
HTTPCACHE_ENABLED = False  # set True (with HTTPCACHE_DIR) to replay a crawl locally
HTTPCACHE_DIR = "httpcache"

# trialkb's own settings
TRIALKB_API_URL = "https://clinicaltrials.gov/api/v2"
TRIALKB_DB = None  # store URL; None: TRIALKB_DB from the environment or the default SQLite file
TRIALKB_PAGE_SIZE = 1000
TRIALKB_RECHECK = 200  # stalest known trials re-fetched by filter.ids per run
TRIALKB_PAGE_RETRIES = 3  # re-fetches of a page whose body is not valid JSON
TRIALKB_WORKERS = 0  # processes that normalize pages; 0: one per core
TRIALKB_MAX_REJECTED_SHARE = 0.05  # a run rejecting more of what it fetched (a registry format change) fails
TRIALKB_CTIS_URL = "https://euclinicaltrials.eu/ctis-public-api"
TRIALKB_CTIS_PAGE_SIZE = 100  # rows of a CTIS search page (public clients ask at most 100; docs/ctis.md)
