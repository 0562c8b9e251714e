export { createHttpClient, parseBaseUrl, classifyNetworkError, NetworkError, DEFAULT_MAX_BODY_BYTES } from './client.js';
export type { HttpClient, HttpClientOptions, HttpRequest, HttpResponse, NetworkErrorKind } from './client.js';
export { headerValue, parseRetryAfter, retryAfterFromHeaders, parseRateLimitHeaders, parseRateLimitPolicy } from './headers.js';
export type { HeaderBag, RateLimitInfo } from './headers.js';
