"""Amazon Personalize's field limits, in one place for Validate (which enforces them on Segment's message)
and the Personalize adapter (which checks them before a call). No imports: Validate loads this module
without the adapter."""

#: PutEvents accepts 1 to 10 events a call.
MAX_EVENTS_PER_CALL = 10
#: Longest id PutEvents and GetRecommendations accept (eventId, eventType, itemId, userId, sessionId).
MAX_ID_LENGTH = 256
MAX_RECOMMENDATION_ID_LENGTH = 40
MAX_IMPRESSION_IDS = 25
MAX_PROPERTIES_LENGTH = 1024
#: GetRecommendations filterValues: at most 25 keys of up to 50 characters, values of up to 1,000.
MAX_FILTER_VALUE_LENGTH = 1000
MAX_FILTER_KEY_LENGTH = 50
