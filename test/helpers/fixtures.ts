/** Recorded llama-server answers (test/fixtures/llama-server, byte for byte from the real server). */
import apply from "../fixtures/llama-server/apply-template.body?raw";
import chat from "../fixtures/llama-server/chat.body?raw";
import chatStream from "../fixtures/llama-server/chat-stream.body?raw";
import chatStreamIds from "../fixtures/llama-server/chat-stream-ids.body?raw";
import chatStreamIdsReasoning from "../fixtures/llama-server/chat-stream-ids-reasoning.body?raw";
import chatStreamIdsUtf8 from "../fixtures/llama-server/chat-stream-ids-utf8.body?raw";
import completionStreamIds from "../fixtures/llama-server/completion-stream-ids.body?raw";
import completionsStream from "../fixtures/llama-server/completions-stream.body?raw";
import embeddings from "../fixtures/llama-server/embeddings.body?raw";
import error401 from "../fixtures/llama-server/error-401.body?raw";
import errorContext from "../fixtures/llama-server/error-context.body?raw";
import errorEmbeddings from "../fixtures/llama-server/error-embeddings.body?raw";
import messages from "../fixtures/llama-server/messages.body?raw";
import messagesStream from "../fixtures/llama-server/messages-stream.body?raw";
import models from "../fixtures/llama-server/models.body?raw";
import responsesStream from "../fixtures/llama-server/responses-stream.body?raw";
import routerModels from "../fixtures/llama-server/router-mode-models.body?raw";
import routerUnknown from "../fixtures/llama-server/router-mode-unknown.body?raw";

export const FIXTURES = { apply, chat, chatStream, chatStreamIds, chatStreamIdsReasoning, chatStreamIdsUtf8, completionStreamIds, completionsStream, embeddings, error401, errorContext, errorEmbeddings, messages, messagesStream, models, responsesStream, routerModels, routerUnknown };
