using System.Text.Json;
using System.Text.Json.Serialization;

namespace IfApi.Transactions;

/// <summary>Up to 1000 operations of the API, applied in order, all or nothing, in one transaction.</summary>
/// <param name="Operations">The operations, each seeing what the ones before it changed.</param>
public sealed record TransactionRequest(IReadOnlyList<TransactionOperation> Operations);

/// <summary>One operation: a request as it would be sent on its own.</summary>
/// <param name="Method">GET, POST, PUT, PATCH or DELETE.</param>
/// <param name="Path">The path under <c>/v1</c> with its query, e.g. <c>/v1/interfaces/bridge0/members/tap0</c>.</param>
/// <param name="Body">The JSON body, for the operations that take one.</param>
/// <param name="IfMatch">The <c>If-Match</c> the operation is sent with.</param>
public sealed record TransactionOperation(string Method, string Path, JsonElement? Body = null, string? IfMatch = null);

/// <summary>What one operation answered.</summary>
/// <param name="Status">Its HTTP status.</param>
/// <param name="ETag">Its <c>ETag</c> header.</param>
/// <param name="Location">Its <c>Location</c> header.</param>
/// <param name="Body">Its JSON body.</param>
public sealed record OperationResult(
    int Status,
    [property: JsonPropertyName("etag"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ETag,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Location,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? Body);

/// <summary>A transaction that committed (or, as a dry run, would have): each operation's answer, in order.</summary>
/// <param name="Results">One per operation.</param>
/// <param name="DryRun">True when nothing was committed: the answer is what would have happened.</param>
public sealed record TransactionResponse(IReadOnlyList<OperationResult> Results, bool DryRun);
