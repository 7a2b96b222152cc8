using System.Text.Json;
using IfApi.Contract;
using IfApi.Domain;
using IfApi.Problems;
using IfApi.Store;
using IfApi.Vnets;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.AspNetCore.WebUtilities;

namespace IfApi.Transactions;

/// <summary>Endpoints an operation of a transaction cannot be: streams, devices, frames, transactions.</summary>
public sealed class NotInTransactions
{
    public static readonly NotInTransactions Instance = new();
}

/// <summary>
/// Runs one operation of a transaction through the endpoint that serves it on its own: the same
/// binding, rules and answer, inside the transaction that <see cref="Application.BatchService"/>
/// holds open. Its key's scopes are checked as the auth middleware would check them. A refusal
/// throws a <see cref="ProblemException"/> naming the operation, which rolls the whole transaction back.
/// </summary>
public sealed class OperationDispatcher(EndpointDataSource endpoints, IAuthorizationService authorization, IAuthorizationPolicyProvider policies)
{
    private static readonly string[] Methods = [HttpMethods.Get, HttpMethods.Post, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete];

    private IReadOnlyList<(RouteEndpoint Endpoint, TemplateMatcher Matcher, IReadOnlyList<string> Methods)>? _routes;

    /// <summary>The operation's answer; <paramref name="index"/> is where it is in the transaction.</summary>
    public async Task<OperationResult> RunAsync(HttpContext outer, TransactionOperation op, int index, CancellationToken ct)
    {
        try
        {
            return await DispatchAsync(outer, op, ct);
        }
        catch (Exception e) when (Problems.Problems.From(e) is { } problem)
        {
            throw Failed(problem, op, index);
        }
    }

    private async Task<OperationResult> DispatchAsync(HttpContext outer, TransactionOperation op, CancellationToken ct)
    {
        var method = Methods.FirstOrDefault(m => string.Equals(m, op.Method, StringComparison.OrdinalIgnoreCase))
            ?? throw new IfError(Errno.EINVAL, $"method '{op.Method}' is not one of {string.Join(", ", Methods)}");
        if (op.Path is null || !op.Path.StartsWith("/v1/", StringComparison.Ordinal))
            throw new IfError(Errno.EINVAL, "an operation's path starts with /v1/");
        var q = op.Path.IndexOf('?', StringComparison.Ordinal);
        var path = PathString.FromUriComponent(q < 0 ? op.Path : op.Path[..q]);
        var query = new QueryCollection(QueryHelpers.ParseQuery(q < 0 ? "" : op.Path[q..]));
        if (query.ContainsKey(ContractSetup.DryRunParameter))
            throw new IfError(Errno.EINVAL, "dryRun is for the whole transaction (POST /v1/transactions?dryRun=true), not one operation");

        var (endpoint, values) = Match(method, path);
        if (endpoint.Metadata.GetMetadata<NotInTransactions>() is not null)
            throw new IfError(Errno.EINVAL, $"{method} {path} cannot be part of a transaction");
        await AuthorizeAsync(outer, endpoint, method, path);
        // Its vnet: the one its path names, else the transaction's own (/v1/vnets/{vnet}/transactions
        // runs plain paths in that vnet, as a process inside a jail does). Set for this operation only.
        if (endpoint.Metadata.GetMetadata<VnetScope>() is { } scope)
            Curvnet.Set(await VnetAccess.ResolveAsync(outer, scope.Named ? values[VnetAccess.RouteValue] as string : null, Curvnet.Name));

        var http = new DefaultHttpContext { RequestServices = outer.RequestServices, User = outer.User, TraceIdentifier = outer.TraceIdentifier, RequestAborted = ct };
        http.Features.Set<IHttpRequestBodyDetectionFeature>(new BodyDetection(op.Body is not null));
        var request = http.Request;
        (request.Method, request.Scheme, request.Host, request.PathBase, request.Path, request.Query) =
            (method, outer.Request.Scheme, outer.Request.Host, outer.Request.PathBase, path, query);
        foreach (var (key, value) in values)
            request.RouteValues[key] = value;
        if (op.IfMatch is not null)
            request.Headers.IfMatch = op.IfMatch;
        if (op.Body is { } body)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(body.GetRawText());
            (request.ContentType, request.ContentLength, request.Body) = ("application/json", bytes.Length, new MemoryStream(bytes));
        }
        var response = new MemoryStream();
        http.Response.Body = response;
        http.SetEndpoint(endpoint);
        await endpoint.RequestDelegate!(http);

        var status = http.Response.StatusCode;
        JsonElement? answer = response.Length > 0 && (http.Response.ContentType?.Contains("json", StringComparison.Ordinal) ?? false)
            ? JsonSerializer.Deserialize<JsonElement>(response.GetBuffer().AsSpan(0, (int)response.Length))
            : null;
        if (status >= 400)
            throw new ProblemException(answer is { } p ? p.Deserialize<ProblemDetails>(JsonSerializerOptions.Web)! : new ProblemDetails { Status = status });
        var headers = http.Response.Headers;
        return new OperationResult(status, headers.ETag.Count > 0 ? headers.ETag.ToString() : null,
            headers.Location.Count > 0 ? headers.Location.ToString() : null, answer);
    }

    /// <summary>The endpoint a method and path reach, as routing would choose it: literal segments before parameters.</summary>
    private (RouteEndpoint Endpoint, RouteValueDictionary Values) Match(string method, PathString path)
    {
        _routes ??= endpoints.Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is not null && e.Metadata.GetMetadata<HttpMethodMetadata>() is not null)
            .OrderBy(e => e.RoutePattern.Parameters.Count).ThenBy(e => e.Order)
            .Select(e => (e, new TemplateMatcher(TemplateParser.Parse(e.RoutePattern.RawText!), []), e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods))
            .ToList();
        var allowed = false;
        foreach (var (endpoint, matcher, methods) in _routes)
        {
            var values = new RouteValueDictionary();
            if (!matcher.TryMatch(path, values))
                continue;
            if (methods.Contains(method, StringComparer.Ordinal))
                return (endpoint, values);
            allowed = true;
        }
        if (!allowed)
            throw new IfError(Errno.ENOENT, $"no operation at {path}");
        var problem = Problems.Problems.For(Errno.EOPNOTSUPP, $"{method} is not an operation of {path}", null);
        problem.Status = StatusCodes.Status405MethodNotAllowed;
        throw new ProblemException(problem);
    }

    /// <summary>
    /// The scope the endpoint needs, of the transaction's own key: decided once per endpoint and
    /// transaction (the key does not change within one), however many operations use it.
    /// </summary>
    private async Task AuthorizeAsync(HttpContext outer, Endpoint endpoint, string method, PathString path)
    {
        if (outer.Items[endpoint] is true)
            return;
        var names = endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).OfType<string>().ToList();
        var wanted = names.Count == 0 ? [await policies.GetFallbackPolicyAsync()] : await Task.WhenAll(names.Select(n => policies.GetPolicyAsync(n)));
        foreach (var policy in wanted.OfType<AuthorizationPolicy>())
            if (!(await authorization.AuthorizeAsync(outer.User, null, policy)).Succeeded)
                throw new IfError(Errno.EPERM, $"this key may not {method} {path}{(names.Count > 0 ? $": it needs the {string.Join(", ", names)} scope" : "")}");
        outer.Items[endpoint] = true;
    }

    private static ProblemException Failed(ProblemDetails problem, TransactionOperation op, int index)
    {
        problem.Detail = $"operation {index} ({op.Method} {op.Path}): {problem.Detail}";
        problem.Extensions["operation"] = index;
        return new ProblemException(problem);
    }

    private sealed class BodyDetection(bool canHaveBody) : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody { get; } = canHaveBody;
    }
}
