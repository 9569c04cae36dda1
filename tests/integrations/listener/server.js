// The AUTRANEX "Auto-Hold High-Risk Orders" tutorial's listener, Part 3 steps 1-3, copied as
// written there. Two edits only: the snippets are joined into one file, and `async (req, res)`
// and `=> {` are joined on one line: the tutorial's page layout wrapped them, and JavaScript
// allows no line break before an arrow. hookdesk's tests run it with PORT and
// AUTRANEX_WEBHOOK_SECRET set, and send it hookdesk's order.held.
import express from 'express';
import crypto from 'crypto';

const app = express();
const PORT = process.env.PORT || 3000;

// IMPORTANT: Use raw body for HMAC verification
app.use(express.raw({ type: 'application/json' }));

function verifyAutranexSignature(req, res, next) {
  const signature = req.headers['x-autranex-signature'];

  if (!signature) {
    return res.status(401).json({ error: 'Missing signature header' });
  }

  // Parse signature header
  const elements = signature.split(',');
  const timestamp = elements[0].split('=')[1];
  const receivedHash = elements[1].split('=')[1];

  // Verify timestamp (5 min tolerance)
  const currentTime = Math.floor(Date.now() / 1000);
  if (currentTime - parseInt(timestamp) > 300) {
    return res.status(401).json({ error: 'Request too old' });
  }

  // Calculate expected signature
  const payload = timestamp + '.' + req.body.toString();
  const expectedHash = crypto
    .createHmac('sha256', process.env.AUTRANEX_WEBHOOK_SECRET)
    .update(payload)
    .digest('hex');

  // Timing-safe comparison
  if (!crypto.timingSafeEqual(
    Buffer.from(receivedHash, 'hex'),
    Buffer.from(expectedHash, 'hex')
  )) {
    return res.status(401).json({ error: 'Invalid signature' });
  }

  req.body = JSON.parse(req.body.toString());
  next();
}

// In-memory store for idempotency (use Redis in production)
const processedEvents = new Set();

app.post('/webhook/orders', verifyAutranexSignature, async (req, res) => {
  const event = req.body;

  // Idempotency check
  if (processedEvents.has(event.event_id)) {
    return res.status(200).json({ status: 'already_processed' });
  }

  // Process event
  if (event.event_type === 'order.held') {
    console.log(`Order ${event.data.order_id} held:
$${event.data.order_value}`);
    processedEvents.add(event.event_id);

    // Your business logic here
  }

  // MUST return 200 OK within 3 seconds
  res.status(200).json({ status: 'received' });
});

app.listen(PORT, () => {
  console.log(`Webhook listener on port ${PORT}`);
});
