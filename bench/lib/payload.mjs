// Chat-like JSON text for the compression benchmarks: what a chat or a feed sends, repetitive in
// structure, varied in content (it compresses about 3-4x with deflate, not 100x like 'xxx...').
export function chatPayload(size) {
  const words = ['hello', 'there', 'how', 'are', 'you', 'today', 'fine', 'thanks', 'what', 'about', 'the', 'weather',
    'rain', 'sun', 'later', 'maybe', 'coffee', 'tea', 'music', 'film', 'book', 'game', 'city', 'sea'];
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const items = [];
  let length = 2;
  for (let i = 0; length < size; i++) {
    const text = Array.from({ length: 3 + Math.floor(rand() * 8) }, () => words[Math.floor(rand() * words.length)]).join(' ');
    const item = JSON.stringify({ type: 'msg', seq: i, from: `u${Math.floor(rand() * 9000) + 1000}`, at: 1764460800000 + Math.floor(rand() * 1e6), text });
    items.push(item);
    length += item.length + 1;
  }
  return `[${items.join(',')}]`.slice(0, size);
}
