package dev.baomi.spring;

import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Collections;
import org.apache.ibatis.cache.CacheKey;
import org.apache.ibatis.executor.Executor;
import org.apache.ibatis.mapping.BoundSql;
import org.apache.ibatis.mapping.MappedStatement;
import org.apache.ibatis.plugin.Interceptor;
import org.apache.ibatis.plugin.Intercepts;
import org.apache.ibatis.plugin.Invocation;
import org.apache.ibatis.plugin.Signature;
import org.apache.ibatis.session.ResultHandler;
import org.apache.ibatis.session.RowBounds;

/**
 * Field encryption for MyBatis, with no change to mappers or SQL: before an insert or update,
 * the {@link Encrypted} fields of the entities it writes are sealed (and given back their
 * plaintext after it); after a select, those of the entities it returns are opened, all in one
 * Baomi call per statement. Opened results are not left in MyBatis's session cache, so that
 * a read under another purpose or view asks Baomi again.
 */
@Intercepts({
  @Signature(type = Executor.class, method = "update", args = {MappedStatement.class, Object.class}),
  @Signature(
      type = Executor.class,
      method = "query",
      args = {MappedStatement.class, Object.class, RowBounds.class, ResultHandler.class}),
  @Signature(
      type = Executor.class,
      method = "query",
      args = {MappedStatement.class, Object.class, RowBounds.class, ResultHandler.class, CacheKey.class, BoundSql.class})
})
public final class BaomiMybatisInterceptor implements Interceptor {
  private final FieldEncryptor encryptor;

  /** The interceptor, sealing and opening with {@code encryptor}. */
  public BaomiMybatisInterceptor(FieldEncryptor encryptor) {
    this.encryptor = encryptor;
  }

  @Override
  public Object intercept(Invocation invocation) throws Throwable {
    Object parameter = invocation.getArgs()[1];
    if (invocation.getMethod().getName().equals("update")) {
      Runnable restore = encryptor.seal(entities(parameter));
      try {
        return invocation.proceed();
      } finally {
        restore.run();
      }
    }
    Object result = invocation.proceed();
    if (result instanceof List<?> rows && rows.stream().anyMatch(encryptor::handles)) {
      ((Executor) invocation.getTarget()).clearLocalCache();
      encryptor.open(rows);
    }
    return result;
  }

  /** The objects a statement's parameter holds: itself, or those of a collection or a map (MyBatis's named parameters), each once. */
  static List<Object> entities(Object parameter) {
    Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
    List<Object> out = new ArrayList<>();
    List<Object> pending = new ArrayList<>();
    pending.add(parameter);
    for (int i = 0; i < pending.size(); i++) {
      Object p = pending.get(i);
      if (p == null || !seen.add(p)) {
        continue;
      }
      if (p instanceof Map<?, ?> map) {
        pending.addAll(map.values());
      } else if (p instanceof Collection<?> items) {
        pending.addAll(items);
      } else if (p instanceof Object[] array) {
        pending.addAll(List.of(array));
      } else {
        out.add(p);
      }
    }
    return out;
  }
}
