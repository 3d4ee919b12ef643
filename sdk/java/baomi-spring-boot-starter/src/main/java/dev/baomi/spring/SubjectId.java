package dev.baomi.spring;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * The field holding whose data the entity is (the platform's user id): the subject its
 * {@link Encrypted} fields are sealed for, and whose consent their reads are held to.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.FIELD)
public @interface SubjectId {}
